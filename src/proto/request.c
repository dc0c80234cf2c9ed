/* request — any request body decoded by its op, for the node's dispatch,
 * and the subscriber and topic a request keys on. */
#include "proto/msg.h"

bool msg_request_get(uint8_t op, wire_reader_t *r, msg_t *m) {
  switch (op) {
    case WIRE_HELLO: return msg_hello_get(r, &m->hello);
    case WIRE_AUTH: return msg_auth_get(r, &m->auth);
    case WIRE_CREATE_PUBLISHER:
    case WIRE_CREATE_SUBSCRIBER: return msg_id_get(r, &m->id);
    case WIRE_CREATE_TOPIC:
    case WIRE_DELETE_TOPIC: return msg_topic_get(r, &m->topic);
    case WIRE_PUBLISH: return msg_publish_get(r, &m->publish);
    case WIRE_SUBSCRIBE: return msg_subscribe_get(r, &m->subscribe);
    case WIRE_PULL: return msg_pull_get(r, &m->pull);
    case WIRE_FETCH: return msg_fetch_get(r, &m->fetch);
    case WIRE_RELEASE: return msg_release_get(r, &m->release);
    case WIRE_STOP_NODE: return msg_stop_get(r, &m->stop);
    case WIRE_STATS:
    case WIRE_VIEW:
    case WIRE_LOCAL: return msg_empty_get(r);
    case WIRE_WHERE: return msg_where_get(r, &m->where);
    case WIRE_LOOKUP: return msg_lookup_get(r, &m->lookup);
    case WIRE_REPLICATE: return msg_replicate_get(r, &m->replicate);
    case WIRE_LIST_TOPICS: return msg_prefix_get(r, &m->prefix);
    case WIRE_HOMED: return msg_homed_get(r, &m->homed);
    case WIRE_REWIND: return msg_rewind_get(r, &m->rewind);
    case WIRE_UNPARK: return msg_key_get(r, &m->key);
    case WIRE_PING: return msg_ping_get(r, &m->ping);
    case WIRE_GOSSIP: return msg_view_get(r, &m->view);
    case WIRE_HOLDING: return msg_holding_ask_get(r, &m->holding);
    case WIRE_SPREAD: return msg_spread_get(r, &m->spread);
    case WIRE_PROBE: return msg_probe_get(r, &m->probe);
    case WIRE_READ: return msg_read_get(r, &m->read);
    case WIRE_CLAIM: return msg_claim_get(r, &m->claim);
    case WIRE_JOIN: return msg_join_get(r, &m->join);
    case WIRE_LEAVE: return msg_node_get(r, &m->node);
  }
  if (!r->bad) r->bad = "op";
  return false;
}

bool msg_request_key(uint8_t op, const msg_t *m, msg_key_t *key) {
  switch (op) {
    case WIRE_PULL: *key = (msg_key_t){m->pull.subscriber, m->pull.topic}; return true;
    case WIRE_READ:
      *key = (msg_key_t){m->read.pull.subscriber, m->read.pull.topic};
      return true;
    case WIRE_CLAIM:
      *key = (msg_key_t){m->claim.subscriber, m->claim.topic};
      return true;
    case WIRE_REWIND:
      *key = (msg_key_t){m->rewind.subscriber, m->rewind.topic};
      return true;
    case WIRE_UNPARK: *key = m->key; return true;
    case WIRE_SUBSCRIBE:
      *key = (msg_key_t){m->subscribe.subscriber, m->subscribe.topic};
      return true;
  }
  return false;
}

uint32_t msg_request_wait_ms(uint8_t op, const msg_t *m) {
  switch (op) {
    case WIRE_PULL: return m->pull.wait_ms;
    case WIRE_READ: return m->read.pull.wait_ms;
    case WIRE_CLAIM: return m->claim.wait_ms;
    case WIRE_FETCH: return m->fetch.wait_ms;
  }
  return 0;
}
