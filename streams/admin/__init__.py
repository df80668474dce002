"""Operating the bus: creating and describing the catalogue's topics."""
