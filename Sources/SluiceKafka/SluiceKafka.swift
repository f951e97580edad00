import SluiceCore

