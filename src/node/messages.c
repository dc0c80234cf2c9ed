/* messages — the messages of a PULL (or FETCH) answer, read from the log
 * straight into the frame, as many as fit. */
#include "node/node.h"

/* Walks the messages a PULL answer may carry; writes them when w is set. */
static uint32_t span(hs_node_t *node, wire_writer_t *w, msg_count_t *c,
                     store_topic_t *t, uint64_t from, uint64_t end,
                     uint32_t max, uint64_t *next) {
  size_t budget = node->max_frame - WIRE_HEADER - 32;
  uint32_t n = 0;
  store_iter_t it;
  store_msg_t m;
  *next = from;
  store_iter_init(&it, t, from);
  while (n < max && store_iter_next(&it, &m) && m.offset < end) {
    size_t need = msg_message_size(m.publisher_len, m.len);
    if (n > 0 && need > budget) break;
    budget -= need < budget ? need : budget;
    if (w) {
      msg_message_t mm = {m.offset, m.time_ms,
                          msg_str(m.publisher, m.publisher_len),
                          msg_str(m.data, m.len)};
      msg_messages_add(w, c, &mm);
    }
    *next = m.offset + 1;
    n++;
  }
  return n;
}

uint32_t messages_span(hs_node_t *node, store_topic_t *t, uint64_t from,
                       uint64_t end, uint32_t max, uint64_t *next) {
  return span(node, NULL, NULL, t, from, end, max, next);
}

uint32_t messages_put(hs_node_t *node, wire_writer_t *w, store_topic_t *t,
                      uint64_t from, uint64_t end, uint32_t max,
                      uint64_t *next) {
  msg_count_t c;
  msg_messages_begin(w, &c);
  uint32_t n = span(node, w, &c, t, from, end, max, next);
  msg_messages_end(w, &c, *next);
  node->stats.messages_pulled += n;
  return n;
}

uint32_t messages_reply(node_conn_t *nc, uint8_t op, uint32_t id,
                        store_topic_t *t, uint64_t from, uint64_t end,
                        uint32_t max, uint64_t *next) {
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, op, WIRE_F_REPLY, id);
  uint32_t n = messages_put(nc->node, &w, t, from, end, max, next);
  node_reply_end(nc, &w);
  return n;
}
