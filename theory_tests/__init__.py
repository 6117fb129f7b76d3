"""Every claim of Ren & Sutherland (ICLR 2025) as a property-based test; see README.md."""
