"""The ticketing front: signed change requests in, signed outcome callbacks out."""
