import Testing
@testable import SluiceWarehouse
