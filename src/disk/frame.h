/* frame — how everything on disk is framed: a length, a checksum (CRC-32
 * from zlib) over the length, type and body, the type, then the body.
 * Reading a file checks every frame: one whose length runs past the end is
 * a torn tail; one whose checksum fails is corrupt (at the end: torn too). */
#ifndef HS_DISK_FRAME_H
#define HS_DISK_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/*   u32 len (type + body) | u32 crc32(len, type, body) | u8 type | body */
#define FRAME_HEAD 9
/* No frame on disk is larger (a record is at most a payload of 4 GiB less
 * 64 KiB and its fields): a length past this is damage, not a record. */
#define FRAME_MAX ((uint64_t)UINT32_MAX)

/* Appends a frame of `type` whose body is the n bytes at body (and, when
 * extra is given, the m bytes at extra after them). 0 or HS_ENOMEM. */
int frame_put(buf_t *b, uint8_t type, const void *body, size_t n,
              const void *extra, size_t m);

typedef enum {
  FRAME_OK = 0,  /* *type and *body are set; *size is the frame's size */
  FRAME_END,     /* no bytes left */
  FRAME_TORN,    /* the frame runs past the end of what there is */
  FRAME_CORRUPT  /* its checksum does not match */
} frame_status_t;

/* The frame at p (n bytes left). */
frame_status_t frame_get(const unsigned char *p, size_t n, uint8_t *type,
                         const unsigned char **body, size_t *body_len,
                         size_t *size);

#endif
