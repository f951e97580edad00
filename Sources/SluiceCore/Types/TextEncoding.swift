import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Character encodings for `string` keys and values.
public enum TextEncoding {
    /// True for the names that mean UTF-8 (decoded without iconv).
    public static func isUTF8(_ name: String) -> Bool {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        return n == "utf8"
    }

    /// Checks that iconv knows `name` (e.g. `GBK`, `GB18030`, `UTF-16`, `ISO-8859-1`).
    public static func isSupported(_ name: String) -> Bool {
        if isUTF8(name) { return true }
        let cd = iconv_open("UTF-8", name)
        if Int(bitPattern: cd) == -1 { return false }
        iconv_close(cd)
        return true
    }
}
