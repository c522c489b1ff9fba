"""Initial HOI estimate from detections: human placement, object pose, contacts."""
