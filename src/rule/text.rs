//! The text form of rules (placeholder: being written).
use std::fmt;
use std::str::FromStr;

use super::Rule;
use crate::error::Error;

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl FromStr for Rule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Err(Error::Parse { text: s.into(), position: 0, message: "not written yet".into() })
    }
}
