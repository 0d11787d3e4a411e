{{ config(materialized='incremental', unique_key='id') }}
select id, name, amount, current_date as loaded_on from {{ ref('raw_orders') }}
{% if is_incremental() %}
where id >= (select coalesce(max(id), 0) - 2 from {{ this }})
{% endif %}
