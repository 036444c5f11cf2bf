//! SMB1 (CIFS) negotiation: the SMB_COM_NEGOTIATE request and its response (MS-CIFS 2.2.4.52, MS-SMB 2.2.4.5).

mod capabilities;
mod header;
mod request;
mod response;

pub use capabilities::Smb1Capabilities;
pub use header::{COM_NEGOTIATE, HEADER_LEN, Smb1Header};
pub use request::{
    CLASSIC_AND_SMB2_DIALECTS, CLASSIC_DIALECTS, negotiate_request, negotiate_request_extended,
};
pub use response::{NO_DIALECT, Smb1NegotiateResponse, Smb1SecurityMode};
