"""Steps of feature views: materialising an upload into a view version."""
