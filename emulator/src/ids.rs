//! Identifiers the emulator hands out: random request ids (32 lower-case hex digits, Azure's
//! `x-ms-request-id`), the dashed GUID form Azure wrote them in, and stable ids derived
//! from a name (virtual network ids, role certificate thumbprints) so that the same
//! resource shows the same id across requests and restarts. It keeps no state.

use rand::RngCore;

/// Lower-case hex of some bytes.
pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh request id: 16 random bytes as 32 lower-case hex digits.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex_lower(&bytes)
}

/// `0123456789abcdef0123456789abcdef` → `01234567-89ab-cdef-0123-456789abcdef` (how Azure
/// wrote a request id as an operation `ID`); anything but 32 hex digits is returned as it is.
pub fn guid_form(id: &str) -> String {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return id.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    )
}

/// 32 lower-case hex digits that depend only on `text` (128-bit FNV-1a).
pub fn stable_hex(text: &str) -> String {
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in text.bytes() {
        hash ^= b as u128;
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("{hash:032x}")
}

/// [`stable_hex`] in GUID form.
pub fn stable_guid(text: &str) -> String {
    guid_form(&stable_hex(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_hex_and_guid_form_dashes_them() {
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            guid_form("0123456789abcdef0123456789abcdef"),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(guid_form("not-a-request-id"), "not-a-request-id");
        assert_eq!(
            guid_form("é123456789abcdef0123456789abcde"),
            "é123456789abcdef0123456789abcde"
        );
    }

    #[test]
    fn stable_ids_depend_only_on_the_text() {
        assert_eq!(stable_hex("sub/vnet"), stable_hex("sub/vnet"));
        assert_ne!(stable_hex("sub/vnet"), stable_hex("sub/vnet2"));
        assert_eq!(stable_guid("x").len(), 36);
    }
}
