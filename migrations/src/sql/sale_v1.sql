-- A counter sale in one call (PostgreSQL only; see src/merchants/redemption.rs).
--
-- The same steps, in the same order and under the same locks, as the sale the server runs as
-- separate statements on SQLite: the shop and the offer, the pay code used up, the wallet and
-- the till shard found (opened on first use), the idempotency key claimed, the offer's checks
-- and stock, the redemption row, the wallet debited (conditionally), the postings, the lots
-- spent soonest-expiring first (what each gave kept for a reversal), the till credited last.
-- Called as one statement, the call is its own transaction: a refusal raises SQLSTATE LN001
-- with the refusal's code as the message, and everything the call wrote is rolled back with it.
--
-- Returns the redemption row — the new one, or for a retry with the same key and request the
-- one that key made. A retry of a sale made before redemptions kept names returns a row whose
-- merchant_name is empty: its receipt is the one stored with the ledger transaction.

CREATE OR REPLACE FUNCTION linli_account(p_community bigint, p_kind text, p_owner bigint,
                                         p_shard integer, p_now timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM ledger_accounts
     WHERE community_id = p_community AND kind = p_kind AND owner_id = p_owner AND shard = p_shard;
    IF v_id IS NULL THEN
        INSERT INTO ledger_accounts (community_id, kind, owner_id, shard, balance, created_at)
        VALUES (p_community, p_kind, p_owner, p_shard, 0, p_now)
        ON CONFLICT (community_id, kind, owner_id, shard) DO NOTHING;
        SELECT id INTO STRICT v_id FROM ledger_accounts
         WHERE community_id = p_community AND kind = p_kind AND owner_id = p_owner
           AND shard = p_shard;
    END IF;
    RETURN v_id;
END
$fn$;

CREATE OR REPLACE FUNCTION linli_sale(
    p_merchant bigint,
    -- Exactly one payer: the look-up hash of a scanned pay code, or a resident and community.
    p_code_hash text,
    p_user bigint,
    p_community bigint,
    -- Exactly one of an offer or an amount.
    p_offer bigint,
    p_amount bigint,
    p_key text,
    p_request_hash text,
    p_actor bigint,
    p_channel text,
    p_now timestamptz,
    p_till_shards integer)
RETURNS redemptions LANGUAGE plpgsql AS $fn$
DECLARE
    v_shop merchants;
    v_offer offers;
    v_amount bigint := p_amount;
    v_user bigint := p_user;
    v_community bigint := p_community;
    v_code_ok boolean := true;
    v_served boolean;
    v_wallet bigint;
    v_till bigint;
    v_tx bigint;
    v_tx_hash text;
    v_taken bigint;
    v_row redemptions;
    n integer;
BEGIN
    IF (p_code_hash IS NULL) = (p_user IS NULL OR p_community IS NULL)
       OR (p_offer IS NULL) = (p_amount IS NULL) OR p_amount <= 0 THEN
        RAISE EXCEPTION 'linli_sale takes one payer and one of an offer or a positive amount';
    END IF;
    SELECT * INTO v_shop FROM merchants WHERE id = p_merchant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'NOT_FOUND' USING ERRCODE = 'LN001';
    END IF;
    IF v_shop.status <> 'active' THEN
        RAISE EXCEPTION 'MERCHANT_SUSPENDED' USING ERRCODE = 'LN001';
    END IF;
    IF p_offer IS NOT NULL THEN
        SELECT * INTO v_offer FROM offers WHERE id = p_offer AND merchant_id = p_merchant;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'OFFER_NOT_AT_SHOP' USING ERRCODE = 'LN001';
        END IF;
        v_amount := v_offer.price;
    END IF;

    -- Whose wallet pays. A pay code is used up by the statement that reads it; if it cannot
    -- be, it is read as it is, and the claim below tells a retry of the sale that used it
    -- from a stale code.
    IF p_code_hash IS NOT NULL THEN
        UPDATE pay_codes SET used_at = p_now
         WHERE code_hash = p_code_hash AND used_at IS NULL AND expires_at > p_now
           AND EXISTS (SELECT 1 FROM merchant_communities mc
                        WHERE mc.merchant_id = p_merchant
                          AND mc.community_id = pay_codes.community_id)
        RETURNING user_id, community_id INTO v_user, v_community;
        IF NOT FOUND THEN
            SELECT c.user_id, c.community_id,
                   EXISTS (SELECT 1 FROM merchant_communities mc
                            WHERE mc.merchant_id = p_merchant AND mc.community_id = c.community_id)
              INTO v_user, v_community, v_served
              FROM pay_codes c WHERE c.code_hash = p_code_hash;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'PAY_CODE_INVALID' USING ERRCODE = 'LN001';
            END IF;
            IF NOT v_served THEN
                RAISE EXCEPTION 'COMMUNITY_NOT_SERVED' USING ERRCODE = 'LN001';
            END IF;
            v_code_ok := false;
        END IF;
    END IF;

    v_wallet := linli_account(v_community, 'wallet', v_user, 0, p_now);
    v_till := linli_account(v_community, 'merchant', p_merchant,
                            (v_wallet % p_till_shards)::integer, p_now);

    -- The key first: a retry gets the first sale's row back.
    INSERT INTO ledger_transactions (community_id, kind, idempotency_key, request_hash, reason,
                                     ref_type, ref_id, created_by, created_at)
    VALUES (v_community, 'redemption', p_key, p_request_hash,
            v_shop.name || ' · ' || COALESCE(v_offer.name, '金豆消费'),
            'merchant', p_merchant, p_actor, p_now)
    ON CONFLICT (community_id, idempotency_key) DO NOTHING
    RETURNING id INTO v_tx;
    IF v_tx IS NULL THEN
        SELECT id, request_hash INTO STRICT v_tx, v_tx_hash FROM ledger_transactions
         WHERE community_id = v_community AND idempotency_key = p_key;
        IF v_tx_hash <> p_request_hash THEN
            RAISE EXCEPTION 'IDEMPOTENCY_KEY_REUSED' USING ERRCODE = 'LN001';
        END IF;
        SELECT * INTO v_row FROM redemptions WHERE transaction_id = v_tx;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'key % moved beans but made no redemption', p_key;
        END IF;
        RETURN v_row;
    END IF;
    IF NOT v_code_ok THEN
        RAISE EXCEPTION 'PAY_CODE_INVALID' USING ERRCODE = 'LN001';
    END IF;

    IF p_offer IS NOT NULL THEN
        -- The wallet before the offer's shared stock row, as a reversal takes them; this also
        -- counts one resident's redemptions one at a time.
        UPDATE ledger_accounts SET balance = balance WHERE id = v_wallet;
        IF NOT v_offer.active
           OR (v_offer.valid_from IS NOT NULL AND v_offer.valid_from > p_now)
           OR (v_offer.valid_until IS NOT NULL AND v_offer.valid_until <= p_now) THEN
            RAISE EXCEPTION 'OFFER_UNAVAILABLE' USING ERRCODE = 'LN001';
        END IF;
        IF v_offer.per_resident_limit IS NOT NULL THEN
            -- Counted across every community the resident spends from, under their user row.
            UPDATE users SET id = id WHERE id = v_user;
            SELECT count(*) INTO v_taken FROM redemptions
             WHERE offer_id = p_offer AND user_id = v_user AND status = 'completed';
            IF v_taken >= v_offer.per_resident_limit THEN
                RAISE EXCEPTION 'OFFER_LIMIT_REACHED' USING ERRCODE = 'LN001';
            END IF;
        END IF;
        IF v_offer.stock IS NOT NULL THEN
            UPDATE offers SET stock = stock - 1 WHERE id = p_offer AND stock > 0;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n <> 1 THEN
                RAISE EXCEPTION 'OUT_OF_STOCK' USING ERRCODE = 'LN001';
            END IF;
        END IF;
    END IF;

    INSERT INTO redemptions (merchant_id, offer_id, user_id, community_id, amount, staff_id,
                             transaction_id, status, created_at, channel, merchant_name,
                             offer_name)
    VALUES (p_merchant, p_offer, v_user, v_community, v_amount, p_actor, v_tx, 'completed',
            p_now, p_channel, v_shop.name, v_offer.name)
    RETURNING * INTO v_row;

    UPDATE ledger_accounts SET balance = balance - v_amount
     WHERE id = v_wallet AND balance >= v_amount;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION 'INSUFFICIENT_BEANS' USING ERRCODE = 'LN001';
    END IF;
    INSERT INTO ledger_postings (transaction_id, account_id, amount, created_at)
    VALUES (v_tx, v_wallet, -v_amount, p_now), (v_tx, v_till, v_amount, p_now);
    -- Soonest-expiring lots first: each lot before the one that completes the amount is
    -- emptied; if the lots hold less than the balance, the last is asked for more than it has
    -- and their check constraint refuses the sale. What each lot gave is kept for a reversal
    -- (as `ledger::take_from_lots` does on the other paths; keep the two alike).
    WITH taken AS (
        UPDATE bean_lots SET remaining = bean_lots.remaining - t.take
          FROM (SELECT id, CASE WHEN run >= v_amount OR run = total
                                THEN v_amount - (run - remaining) ELSE remaining END AS take
                  FROM (SELECT id, remaining,
                               SUM(remaining) OVER (ORDER BY expires_at, id) AS run,
                               SUM(remaining) OVER () AS total
                          FROM bean_lots WHERE account_id = v_wallet AND remaining > 0) AS w
                 WHERE run - remaining < v_amount) AS t
         WHERE bean_lots.id = t.id
        RETURNING bean_lots.id, t.take)
    INSERT INTO bean_lot_spends (transaction_id, lot_id, amount)
    SELECT v_tx, id, take FROM taken;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'wallet % has no lots holding the % beans its balance covers',
            v_wallet, v_amount;
    END IF;
    -- The till is shared by every sale at this shop: touched last, just before commit.
    UPDATE ledger_accounts SET balance = balance + v_amount WHERE id = v_till;
    RETURN v_row;
END
$fn$;
