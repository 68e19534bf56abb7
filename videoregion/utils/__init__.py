"""Small utilities shared by the library and tools."""
