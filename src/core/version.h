/*
 * The version of every program of this tree (ztna, ztna-agent, ztna-connector,
 * ztna-intermediate): printed by --version / -V and `ztna version`, and sent as the
 * software in HELLO and WELCOME. One place, so that they never differ.
 */
#ifndef ZT_CORE_VERSION_H
#define ZT_CORE_VERSION_H

#define ZT_VERSION "0.1"

#endif
