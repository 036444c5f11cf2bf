//! SMB2/3 negotiation (MS-SMB2 2.2.3 and 2.2.4).

mod capabilities;
pub mod contexts;
mod dialect;
mod header;
mod request;
mod response;
mod signing;

pub use capabilities::Smb2Capabilities;
pub use contexts::{Cipher, HashAlgorithm, NegotiateContext, SigningAlgorithm};
pub use dialect::Dialect;
pub use header::HEADER_LEN;
pub use request::negotiate_request;
pub use response::Smb2NegotiateResponse;
pub use signing::Signing;
