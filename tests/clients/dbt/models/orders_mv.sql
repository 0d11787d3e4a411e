{{ config(materialized='materialized_view', dist='id', sort=['id']) }}
select id, amount from {{ ref('raw_orders') }}
