/* Runs nftables command text with libnftables in the calling thread's namespace. */
#ifndef ZT_NETNS_NFT_H
#define ZT_NETNS_NFT_H

#include <stddef.h>

/*
 * Runs text (a ruleset or commands, as `nft -f` reads them). Returns 0, -ENOMEM, or
 * -EINVAL when nft rejected the text; then errbuf holds nft's message (trimmed).
 * Any listing the commands print is discarded.
 */
int zt_nft_run(const char *text, char *errbuf, size_t errcap);

#endif
