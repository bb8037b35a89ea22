// An immutable Map made from another with a few entries changed, without
// copying it: a shared base plus a small overlay of the names set or deleted
// since that base. Each build of a snapshot type is one of these, so a
// one-app change costs O(overlay) instead of a copy of every resource; when
// the overlay grows past about √(base) it is folded into a new base (one copy
// every √n changes: O(√n) per change, amortised).
//
// It is a Map to its readers (the ADS streams read `TypeSnapshot.resources`
// as one): every reading method is overridden, and the writing ones throw
// once it is built. Iteration gives the base's entries (those not changed)
// then the overlay's.

/** Overlays up to this size are copied per step; larger ones are folded into a new base. */
const minFold = 64;

export class OverlayMap<K, V> extends Map<K, V> {
  #base: Map<K, V>;
  /** key -> value set over the base; `undefined` marks a key deleted from it. */
  #over: Map<K, V | undefined>;
  #size: number;
  #sealed = false;

  private constructor(base: Map<K, V>, over: Map<K, V | undefined>, size: number) {
    super();
    this.#base = base;
    this.#over = over;
    this.#size = size;
  }

  /** `prev` (any Map, not changed) with `set` put in and `deleted` taken out. */
  static patch<K, V>(prev: Map<K, V>, set: Iterable<[K, V]>, deleted: Iterable<K>): Map<K, V> {
    let base: Map<K, V>;
    let over: Map<K, V | undefined>;
    if (prev instanceof OverlayMap) {
      base = prev.#base;
      over = new Map(prev.#over);
    } else {
      base = prev;
      over = new Map();
    }
    const m = new OverlayMap<K, V>(base, over, prev.size);
    for (const k of deleted) m.#write(k, undefined);
    for (const [k, v] of set) m.#write(k, v);
    if (over.size > Math.max(minFold, 2 * Math.sqrt(base.size))) {
      // Fold: a plain Map again (its readers pay nothing for the overlay).
      return new Map(m);
    }
    m.#sealed = true;
    return m;
  }

  #write(k: K, v: V | undefined): void {
    const had = this.has(k);
    if (v === undefined) {
      if (!had) return;
      if (this.#base.has(k)) this.#over.set(k, undefined);
      else this.#over.delete(k);
      this.#size--;
      return;
    }
    if (this.#base.get(k) === v) this.#over.delete(k);
    else this.#over.set(k, v);
    if (!had) this.#size++;
  }

  override get(k: K): V | undefined {
    return this.#over.has(k) ? this.#over.get(k) : this.#base.get(k);
  }

  override has(k: K): boolean {
    return this.#over.has(k) ? this.#over.get(k) !== undefined : this.#base.has(k);
  }

  override get size(): number {
    return this.#size;
  }

  override *entries(): MapIterator<[K, V]> {
    for (const e of this.#base) if (!this.#over.has(e[0])) yield e;
    for (const [k, v] of this.#over) if (v !== undefined) yield [k, v];
  }

  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  override *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  override *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  override forEach(fn: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  override set(k: K, v: V): this {
    if (this.#sealed) throw new TypeError("a snapshot's resources are immutable");
    return super.set(k, v);
  }

  override delete(k: K): boolean {
    if (this.#sealed) throw new TypeError("a snapshot's resources are immutable");
    return super.delete(k);
  }

  override clear(): void {
    if (this.#sealed) throw new TypeError("a snapshot's resources are immutable");
    super.clear();
  }
}
