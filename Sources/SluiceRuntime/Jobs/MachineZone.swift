import Foundation
import SluiceScheduling

extension SchedulingZone {
    /// This machine's time zone (`TZ`, else the system's): the zone of jobs that name none. Read
    /// here, by the application; the scheduling, job and mapping modules are handed it.
    public static var machine: SchedulingZone { .of(TimeZone.current) }
}
