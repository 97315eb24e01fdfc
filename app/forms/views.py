"""Generic form screens and APIs (declarations only)."""
