/* frame — checksummed frames (frame.h says the layout). */
#include "disk/frame.h"

#include <string.h>
#include <zlib.h>

#include "hypersub.h"

static uint32_t checksum(const unsigned char *len_and_type,
                         const unsigned char *body, size_t n,
                         const unsigned char *extra, size_t m) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32(c, len_and_type, 4);
  c = crc32(c, len_and_type + 8, 1);
  if (n) c = crc32_z(c, body, n);
  if (m) c = crc32_z(c, extra, m);
  return (uint32_t)c;
}

int frame_put(buf_t *b, uint8_t type, const void *body, size_t n,
              const void *extra, size_t m) {
  if (1 + n + m > FRAME_MAX) return HS_ETOO_LARGE;
  unsigned char *p = (unsigned char *)buf_reserve(b, FRAME_HEAD + n + m);
  if (!p) return HS_ENOMEM;
  uint32_t len = (uint32_t)(1 + n + m);
  memcpy(p, &len, 4);
  p[8] = type;
  if (n) memcpy(p + FRAME_HEAD, body, n);
  if (m) memcpy(p + FRAME_HEAD + n, extra, m);
  uint32_t crc = checksum(p, p + FRAME_HEAD, n, p + FRAME_HEAD + n, m);
  memcpy(p + 4, &crc, 4);
  buf_commit(b, FRAME_HEAD + n + m);
  return 0;
}

frame_status_t frame_get(const unsigned char *p, size_t n, uint8_t *type,
                         const unsigned char **body, size_t *body_len,
                         size_t *size) {
  if (n == 0) return FRAME_END;
  if (n < FRAME_HEAD) return FRAME_TORN;
  uint32_t len, crc;
  memcpy(&len, p, 4);
  memcpy(&crc, p + 4, 4);
  if (len == 0) return FRAME_CORRUPT; /* every frame has its type */
  if ((uint64_t)len + 8 > n) return FRAME_TORN;
  if (checksum(p, p + FRAME_HEAD, len - 1, NULL, 0) != crc)
    return FRAME_CORRUPT;
  *type = p[8];
  *body = p + FRAME_HEAD;
  *body_len = len - 1;
  *size = (size_t)len + 8;
  return FRAME_OK;
}
