//! Key material in types that keep it out of sight: [`SecretBytes`] (keys, salts, derived
//! keying material) and [`SecretString`] (pre-shared keys and passwords as configured).
//!
//! Contract: the bytes are overwritten with zeros when the value is dropped (`zeroize`,
//! which the compiler may not optimise away), also when a clone is dropped; `Debug` prints
//! the length only, so a key never reaches a log line or a panic message through `{:?}`;
//! there is no `Display`, so `{}` does not compile. The bytes are read with
//! [`SecretBytes::expose`] / [`SecretString::expose`] (or through `Deref`), by code that
//! uses them as keys. A reallocation of the buffer while it is built (the parser pushing
//! bytes) may leave a copy behind, so build at the final size where it matters.

#![forbid(unsafe_code)]

use std::fmt;
use std::ops::Deref;
use zeroize::Zeroizing;

/// Key bytes, wiped on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes` (no copy is made).
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// A copy of `bytes` (the caller wipes its own).
    pub fn copy_from(bytes: &[u8]) -> Self {
        SecretBytes::new(bytes.to_vec())
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        SecretBytes::new(bytes)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(bytes: &[u8]) -> Self {
        SecretBytes::copy_from(bytes)
    }
}

impl<const N: usize> From<[u8; N]> for SecretBytes {
    fn from(bytes: [u8; N]) -> Self {
        SecretBytes::copy_from(&bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

/// A key or password as text, wiped on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `text` (no copy is made).
    pub fn new(text: String) -> Self {
        SecretString(Zeroizing::new(text))
    }

    /// The text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The text's bytes as a key.
    pub fn to_bytes(&self) -> SecretBytes {
        SecretBytes::copy_from(self.0.as_bytes())
    }
}

impl Deref for SecretString {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(text: String) -> Self {
        SecretString::new(text)
    }
}

impl From<&str> for SecretString {
    fn from(text: &str) -> Self {
        SecretString::new(text.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key() {
        let b = SecretBytes::from(vec![0xde, 0xad, 0xbe, 0xef]);
        let s = SecretString::from("hunter2-key");
        let shown = format!("{b:?} {s:?} {:?}", Some((&b, &s)));
        assert!(!shown.contains("222") && !shown.contains("de") && !shown.contains("hunter2"));
        assert!(
            shown.contains("4 bytes") && shown.contains("11 bytes"),
            "{shown}"
        );
    }

    #[test]
    fn values_read_back_and_compare() {
        let b = SecretBytes::from([1u8, 2, 3]);
        assert_eq!(b.expose(), &[1, 2, 3]);
        assert_eq!(&b[..2], &[1, 2]);
        assert_eq!(b.clone(), b);
        let s = SecretString::from("k");
        assert_eq!(s.expose(), "k");
        assert_eq!(s.to_bytes().expose(), b"k");
    }
}
