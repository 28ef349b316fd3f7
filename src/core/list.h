/*
 * The tree's doubly-linked lists, as macros over the caller's own members: a list is a
 * head pointer (and a tail pointer for the queues), each record has a prev and a next
 * pointer of its own type, NULL-terminated both ways, so that walking it stays the
 * plain `for (x = head; x; x = x->next)`. The member names are arguments: a record may
 * be in several lists.
 */
#ifndef ZT_CORE_LIST_H
#define ZT_CORE_LIST_H

/* x first in the list at head. */
#define ZT_LIST_PUSH(head, x, prev, next) do {                                          \
		(x)->prev = NULL;                                                        \
		(x)->next = (head);                                                      \
		if (head)                                                                \
			(head)->prev = (x);                                              \
		(head) = (x);                                                            \
	} while (0)

/* x last in the queue head..tail. */
#define ZT_QUEUE_APPEND(head, tail, x, prev, next) do {                                 \
		(x)->next = NULL;                                                        \
		(x)->prev = (tail);                                                      \
		if (tail)                                                                \
			(tail)->next = (x);                                              \
		else                                                                     \
			(head) = (x);                                                    \
		(tail) = (x);                                                            \
	} while (0)

/* x out of the queue head..tail. */
#define ZT_QUEUE_UNLINK(head, tail, x, prev, next) do {                                 \
		if ((x)->prev)                                                           \
			(x)->prev->next = (x)->next;                                     \
		else                                                                     \
			(head) = (x)->next;                                              \
		if ((x)->next)                                                           \
			(x)->next->prev = (x)->prev;                                     \
		else                                                                     \
			(tail) = (x)->prev;                                              \
		(x)->prev = (x)->next = NULL;                                            \
	} while (0)

/* x out of the list at head (the queue's unlink, with a tail nobody keeps). */
#define ZT_LIST_UNLINK(head, x, prev, next) do {                                        \
		__typeof__(x) zt_list_tail_ = NULL;                                      \
		ZT_QUEUE_UNLINK(head, zt_list_tail_, x, prev, next);                      \
		(void)zt_list_tail_;                                                     \
	} while (0)

#endif
