"""Reading XML we did not write: ``defusedxml`` (no DTDs, no entity expansion, nothing fetched), clear errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from service.ingest.errors import ParseError
from service.ingest.normalise import decode_text


def read_xml(content: bytes) -> ET.Element:
    """The document's root; ParseError naming the line for malformed XML, and for any DTD or entity."""
    decode_text(content)  # the same clear errors for empty, binary or non-UTF-8 input as every parser
    try:
        return fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ParseError(f"XML with a DTD or entities is refused (an arXiv feed has none): {exc}") from exc
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise ParseError(f"not well-formed XML ({exc})", line=line) from exc
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not readable XML ({exc.__class__.__name__})") from exc
