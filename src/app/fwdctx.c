#include <string.h>

#include "app/fwdctx.h"

static void reap(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_fwdctx *ctx = t->data;
	(void)loop;
	(void)now;

	while (ctx->graveyard) {
		struct zt_fwd_grave *g = ctx->graveyard;
		ctx->graveyard = g->next;
		g->free(g);
	}
}

void zt_fwdctx_init(struct zt_fwdctx *ctx, struct zt_loop *loop, struct zt_nodeio *io)
{
	memset(ctx, 0, offsetof(struct zt_fwdctx, scratch));
	ctx->loop = loop;
	ctx->io = io;
	zt_timer_init(&ctx->reaper, reap, ctx);
}

void zt_fwdctx_bury(struct zt_fwdctx *ctx, struct zt_fwd_grave *g)
{
	g->next = ctx->graveyard;
	ctx->graveyard = g;
	zt_timer_set(ctx->loop, &ctx->reaper, zt_loop_now(ctx->loop));
}

void zt_fwdctx_fini(struct zt_fwdctx *ctx)
{
	if (!ctx->loop)
		return; /* never initialised */
	zt_timer_cancel(ctx->loop, &ctx->reaper);
	reap(ctx->loop, &ctx->reaper, 0);
}
