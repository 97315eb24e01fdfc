"""Formula editor screen: live check and a preview on real org units (declarations only)."""
