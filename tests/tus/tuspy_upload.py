"""Uploads a file to depot with tuspy, a third-party tus client from PyPI.

    tuspy_upload.py ENDPOINT FILE TOKEN

Prints the upload's URL. tuspy resumes from the server's offset (HEAD) after
each failed PATCH, as any tus client does.
"""

import os
import sys

from tusclient import client


def main() -> None:
    endpoint, path, token = sys.argv[1:4]
    tus = client.TusClient(endpoint, headers={"Authorization": f"Bearer {token}"})
    uploader = tus.uploader(
        path,
        metadata={"filename": os.path.basename(path)},
        retries=50,
        retry_delay=1,
    )
    uploader.upload()
    print(uploader.url)


if __name__ == "__main__":
    main()
