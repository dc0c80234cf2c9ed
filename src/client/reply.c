/* reply — success replies by op, decoded with proto/msg.h. */
#include "client/reply.h"

#include <stdlib.h>
#include <string.h>

static int decode_messages(reply_buf_t *rb, wire_reader_t *r,
                           hs_reply_t *out) {
  msg_messages_t ms;
  if (!msg_messages_get(r, &ms)) return HS_EPROTOCOL;
  if (ms.count > rb->msgs_cap) {
    hs_message_t *m = realloc(rb->msgs, ms.count * sizeof *m);
    if (!m) return HS_ENOMEM;
    rb->msgs = m;
    rb->msgs_cap = ms.count;
  }
  msg_message_t m;
  for (uint32_t i = 0; msg_message_next(&ms, &m); i++)
    rb->msgs[i] = (hs_message_t){m.offset, m.time_ms, m.publisher.s,
                                 m.publisher.n, m.data.s, m.data.n};
  out->offset = ms.next;
  out->messages = rb->msgs;
  out->n_messages = ms.count;
  return 0;
}

static int decode_where(reply_buf_t *rb, wire_reader_t *r, hs_reply_t *out) {
  msg_where_reply_t w;
  if (!msg_where_reply_get(r, &w)) return HS_EPROTOCOL;
  memcpy(rb->nodes, w.nodes, w.count * sizeof *w.nodes);
  out->epoch = w.epoch;
  out->nodes = rb->nodes;
  out->n_nodes = w.count;
  return 0;
}

int reply_decode(reply_buf_t *rb, uint8_t op, const wire_frame_t *f,
                 hs_reply_t *out) {
  wire_reader_t r;
  wire_reader_init(&r, f->body, f->body_len);
  msg_offset_t off;
  msg_text_t text;
  switch (op) {
    case WIRE_PUBLISH:
    case WIRE_SUBSCRIBE:
      if (!msg_offset_get(&r, &off)) return HS_EPROTOCOL;
      out->offset = off.offset;
      return 0;
    case WIRE_PULL:
    case WIRE_FETCH:
      return decode_messages(rb, &r, out);
    case WIRE_STATS:
    case WIRE_VIEW:
    case WIRE_LOCAL:
    case WIRE_LIST_TOPICS:
      if (!msg_text_get(&r, &text)) return HS_EPROTOCOL;
      out->text = text.text.s;
      out->text_len = text.text.n;
      return 0;
    case WIRE_WHERE:
      return decode_where(rb, &r, out);
    default:
      return msg_empty_get(&r) ? 0 : HS_EPROTOCOL;
  }
}

void reply_buf_free(reply_buf_t *rb) {
  free(rb->msgs);
  rb->msgs = NULL;
  rb->msgs_cap = 0;
}
