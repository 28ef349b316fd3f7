#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

#include "nft.h"

int zt_nft_run(const char *text, char *errbuf, size_t errcap)
{
	/* the context's netlink socket belongs to the namespace current at creation */
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	int rc;

	if (errcap)
		errbuf[0] = 0;
	if (!ctx)
		return -ENOMEM;
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	rc = nft_run_cmd_from_buffer(ctx, text);
	if (rc != 0) {
		const char *e = nft_ctx_get_error_buffer(ctx);
		size_t n;

		snprintf(errbuf, errcap, "%s", e && *e ? e : "nft failed");
		for (n = strlen(errbuf); n && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '); n--)
			errbuf[n - 1] = 0;
		rc = -EINVAL;
	}
	nft_ctx_free(ctx);
	return rc;
}
