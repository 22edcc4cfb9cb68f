"""Understanding and shrinking media: metadata (Pillow, pillow-heif, ffprobe) and
compression strategies (Pillow, ffmpeg). Nothing here touches an original file."""
