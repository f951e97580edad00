import Testing
@testable import SluiceRuntime
