"""Closed-form predictions the figures overlay and the claims compare against."""
