"""Documents, encodings, samples and batches (no model here)."""

from .documents import DataError, Document, Entity, Relation, Types, read_documents, read_types, write_documents

__all__ = ["DataError", "Document", "Entity", "Relation", "Types", "read_documents", "read_types",
           "write_documents"]
