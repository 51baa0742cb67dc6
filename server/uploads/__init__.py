"""The record of objects in the file store (models/upload.py): writing, reading and sweeping it."""
