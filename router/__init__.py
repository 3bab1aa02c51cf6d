"""gold-router: FIX gateway, routing, risk and operations for the Shanghai-Hong Kong gold interconnect."""
