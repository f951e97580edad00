import Foundation
import Testing
@testable import SluiceWarehouse

@Suite struct TimeTextTests {
    @Test func timeTextFormats() {
        #expect(TimeText.string { TimeText.date(days: 0, into: $0) } == "1970-01-01")
        #expect(TimeText.string { TimeText.date(days: 19318, into: $0) } == "2022-11-22")
        #expect(TimeText.string { TimeText.date(days: -1, into: $0) } == "1969-12-31")
        #expect(TimeText.string { TimeText.date(days: 11016, into: $0) } == "2000-02-29")
        #expect(TimeText.string { TimeText.datetime(millis: 1_669_111_200_123, into: $0) } == "2022-11-22 10:00:00.123")
        #expect(TimeText.string { TimeText.datetime(millis: -1, into: $0) } == "1969-12-31 23:59:59.999")
        #expect(TimeText.string { TimeText.timestamp(seconds: 1_669_111_200, nanos: 5, into: $0) }
                == "2022-11-22 10:00:00.000000005")
        // Agrees with Foundation over a range of days.
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        for days in stride(from: -100_000, through: 800_000, by: 997) {
            let expected = f.string(from: Date(timeIntervalSince1970: Double(days) * 86400))
            #expect(TimeText.string { TimeText.date(days: Int32(days), into: $0) } == expected)
        }
    }
}
