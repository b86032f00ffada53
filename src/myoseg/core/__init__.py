"""Image-analysis core. Nothing here imports from myoseg.stream or myoseg.gadgets."""
