/* l_options — the node's options, listed once: core.node reads a table
 * of them into hs_node_config_t, and core.node_options hands the same list
 * to Lua (the unknown-option check, the command line's flags, its help). */
#ifndef HS_L_OPTIONS_H
#define HS_L_OPTIONS_H

#include "binding.h"

/* Fills cfg from the options table at `idx` (defaults for what is absent);
 * a bad value raises. What cfg points into that the table does not hold
 * (the peer list, listen's host) is left on the stack: keep it there until
 * hs_node_new has copied the config. */
void l_options_read(lua_State *L, int idx, hs_node_config_t *cfg);

/* Pushes core.node_options: a list, in help order, of
 * {name =, kind =, default =, min =, max =, values =, flag =, arg =, help =}
 * (kind "integer", "string", "enum", "list" or "table"). */
void l_options_push(lua_State *L);

#endif
