{{ config(materialized='table', dist='id', sort='id') }}
select id, name, amount from {{ ref('orders_view') }}
