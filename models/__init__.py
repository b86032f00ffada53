"""Network definition, preprocessing, inference backends, shipped weights and the model card."""
