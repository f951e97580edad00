import Testing
@testable import SluiceKafka
