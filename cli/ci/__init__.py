"""Continuous integration for a platform repository: the workflows `platform ci init` writes."""
