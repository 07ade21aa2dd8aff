"""schemathesis hooks for depot's API fuzzing (tests/api/openapi.rs).

tus PATCH bodies are `application/offset+octet-stream`, a media type
schemathesis cannot generate by itself: give it arbitrary bytes.
"""

from hypothesis import strategies as st

import schemathesis

schemathesis.openapi.media_type(
    "application/offset+octet-stream", st.binary(max_size=4096)
)
