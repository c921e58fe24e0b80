//! An Account ID as a QR code of half blocks: two module rows per terminal
//! row, light modules drawn as the foreground (draw it white on black).

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the code. The standard asks for 4; phone scanners
/// read 2 reliably, and 2 lets the code fit an 80×24 terminal.
pub const QUIET_ZONE: usize = 2;

/// The QR code of `account_id` as lines of `▀`, `▄`, `█` and spaces, where
/// a drawn (foreground) half is a light module. The ID is encoded in upper
/// case, which QR's alphanumeric mode stores more densely (a smaller code;
/// Account IDs parse in either case). `None` if it cannot be encoded.
pub fn lines(account_id: &str) -> Option<Vec<String>> {
    let upper = account_id.to_ascii_uppercase();
    let code = QrCode::with_error_correction_level(upper.as_bytes(), EcLevel::M).ok()?;
    let n = code.width();
    let colors = code.to_colors();
    let size = n + 2 * QUIET_ZONE;
    let light = |x: usize, y: usize| -> bool {
        if x < QUIET_ZONE || y < QUIET_ZONE || x >= n + QUIET_ZONE || y >= n + QUIET_ZONE {
            return true;
        }
        colors.get((y - QUIET_ZONE) * n + (x - QUIET_ZONE)) != Some(&Color::Dark)
    };
    let mut out = Vec::with_capacity(size.div_ceil(2));
    for row in (0..size).step_by(2) {
        let line: String = (0..size)
            .map(|x| {
                let top = light(x, row);
                let bottom = row + 1 >= size || light(x, row + 1);
                match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                }
            })
            .collect();
        out.push(line);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::identity::{AccountId, Identity};

    #[test]
    fn half_blocks_reproduce_every_module() {
        let id = Identity::generate().unwrap().account_id().to_string();
        let upper = id.to_ascii_uppercase();
        // The scanned text parses back to the same account.
        assert_eq!(upper.parse::<AccountId>().unwrap().to_string(), id);
        let code = QrCode::with_error_correction_level(upper.as_bytes(), EcLevel::M).unwrap();
        let n = code.width();
        let colors = code.to_colors();
        let lines = lines(&id).unwrap();
        let size = n + 2 * QUIET_ZONE;
        assert_eq!(lines.len(), size.div_ceil(2));
        let grid: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
        for y in 0..n {
            for x in 0..n {
                let (gx, gy) = (x + QUIET_ZONE, y + QUIET_ZONE);
                let c = grid[gy / 2][gx];
                let lit = if gy % 2 == 0 {
                    matches!(c, '█' | '▀')
                } else {
                    matches!(c, '█' | '▄')
                };
                assert_eq!(lit, colors[y * n + x] == Color::Light, "module {x},{y}");
            }
        }
        // Alphanumeric mode keeps an Account ID at version 3 (29 modules).
        assert_eq!(n, 29);
    }
}
