"""Where models come from: folder, GGUF or hub (loading), the device to run on (device), the demo model (demo)."""
