/* reply — a reply frame decoded into the public hs_reply_t, with the
 * typed codecs. The arrays a reply points to live in a reply_buf_t the
 * client keeps, valid until the next decode. */
#ifndef HS_REPLY_H
#define HS_REPLY_H

#include "hypersub.h"
#include "proto/msg.h"

typedef struct reply_buf {
  hs_message_t *msgs;
  size_t msgs_cap;
  uint32_t nodes[MSG_WHERE_MAX];
} reply_buf_t;

/* Fills out from the success reply of a request of `op` (status 0). 0, or
 * HS_EPROTOCOL (malformed) / HS_ENOMEM. */
int reply_decode(reply_buf_t *rb, uint8_t op, const wire_frame_t *f,
                 hs_reply_t *out);
void reply_buf_free(reply_buf_t *rb);

#endif
