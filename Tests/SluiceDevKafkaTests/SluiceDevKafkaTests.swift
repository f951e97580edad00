import Testing
@testable import SluiceDevKafka
