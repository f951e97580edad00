import Testing
@testable import SluiceMaxCompute
