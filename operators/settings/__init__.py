"""What a user sets: the scene's Neural Aesthetics properties and the extension preferences."""
